"""api/v1alpha1."""
