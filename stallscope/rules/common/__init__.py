"""What several rules share (the oom_count trend, task histories, each task's trace): helpers, not rules."""
