"""riskscore: account-risk scoring for payment platforms."""

__version__ = "0.1.0"
