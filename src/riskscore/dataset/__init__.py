"""Reading, validating and summarising data in the input contract (``riskscore.schema``)."""

from riskscore.dataset.validate import (
    DataContractError,
    DatasetReport,
    require_for_training,
    validate_dataset,
)

__all__ = ["DataContractError", "DatasetReport", "require_for_training", "validate_dataset"]
