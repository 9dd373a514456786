"""gongkai: a task ledger for government-openness work plans."""

__version__ = "0.1.0"
