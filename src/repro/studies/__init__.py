"""One sub-package per study: data, experiments, evaluation, figures, claims."""
