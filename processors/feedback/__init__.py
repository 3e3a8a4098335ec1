"""Feedback on the daemons' runs, the rewards made of it, and fine-tuning datasets
(``docs/feedback.md``).

- ``contract.py``  what a Feedback record must be to reach ``daemons.feedback`` (pure)
- ``runs.py``      the run index: run id → tenant, daemon, event, trace, from ``daemons.runs``
- ``intake.py``    the ``feedback-intake`` daemon: ``feedback.inbox`` → ``daemons.feedback`` or
                   its dead letters
- ``rewards.py``   a run's reward, part by part; TRL ``reward_funcs``
- ``formats.py``   dataset rows per consumer (OpenAI, TRL) and their JSON Schemas
- ``datasets.py``  ``daemons dataset build``: feedback joined to run records, rows, manifest
- ``scan.py``      reading a topic between offsets (time → offsets)
"""
