"""Reading, validating and summarising data in the input contract (``riskscore.schema``)."""

from riskscore.dataset.validate import DataContractError, DatasetReport, validate_dataset

__all__ = ["DataContractError", "DatasetReport", "validate_dataset"]
