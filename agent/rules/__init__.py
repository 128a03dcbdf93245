"""Village rules on top of the tracker: counting lines (`lines`, `counts`) and
guarded zones (`zones`, `schedule`, `clock`). `engine.RuleEngine.update()` takes
a camera's tracks once per detector pass and returns typed findings (`findings`);
turning them into published events is the caller's business."""
