from setuptools import find_packages, setup

setup(
    name="camhub-agent",
    version="0.1.0",
    description="Edge agent for village camera hubs: on-device person and vehicle detection, events over MQTT",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["agent", "agent.*"]),
    install_requires=[
        "numpy>=1.23.2",
        # 5.x is brand new; 4.x is what Raspberry Pi OS users run today.
        "opencv-python-headless>=4.8,<5",
        "paho-mqtt>=2.1,<3",
        "pydantic>=2.6,<3",
        "PyYAML>=6",
        "typing-extensions>=4.6",  # a TypedDict that pydantic validates on Python 3.11
        # LiteRT 2.2/2.3 crashed in allocate_tensors/invoke under aarch64 emulation
        # while 2.0.x/2.1.x ran the model correctly.
        "ai-edge-litert>=2.0.2,<2.2",
    ],
    extras_require={
        # Raspberry Pi OS ships picamera2 as python3-picamera2 (apt); this extra is for
        # venvs built with --system-site-packages that still want pip to check for it.
        "pi": ["picamera2>=0.3.17"],
        # The legacy runtime fails under numpy 2 ("_ARRAY_API not found").
        "tflite": ["tflite-runtime>=2.14", "numpy<2"],
        "dev": ["pytest>=8", "ruff>=0.6", "cryptography>=41", "psutil>=5.9", "jsonschema>=4.18"],
    },
    entry_points={"console_scripts": ["camhub-agent=agent.cli:main"]},
)
