"""Workers that turn what happens into action runs and deliver them.

The reactor evaluates process actions' conditions against events, the scheduler fires due runs,
delivery renders templates and hands them to channels; every outcome is a command, so the event
store stays the one record of what was planned, attempted and delivered.
"""
