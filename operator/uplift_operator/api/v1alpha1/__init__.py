"""uplift.dev/v1alpha1: the UpliftModel and Campaign kinds."""

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import (
    UpliftModel,
    UpliftModelSpec,
    UpliftModelStatus,
)

GROUP = "uplift.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Campaign",
    "CampaignSpec",
    "CampaignStatus",
    "UpliftModel",
    "UpliftModelSpec",
    "UpliftModelStatus",
]
