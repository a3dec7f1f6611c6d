# repro: one workflow that rebuilds ten ML studies. This file is the table of contents:
# config and validation (common.smk), one rules file per study, the cross-study report.
from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/dual_modes.smk"
include: "workflow/rules/ftc.smk"
include: "workflow/rules/entp.smk"
include: "workflow/rules/multibin_batching.smk"
include: "workflow/rules/task_vectors.smk"
include: "workflow/rules/task_superposition.smk"
include: "workflow/rules/ssm_peft.smk"
include: "workflow/rules/fed_agem.smk"
include: "workflow/rules/r2f.smk"
include: "workflow/rules/kv_retrieval.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        final_outputs(),
