"""Adapter: every PEFT method fine-tuning the pretrained Mamba on digits 5-9 for one seed -> one table."""
from repro.core.io import load_checkpoint
from repro.core.job import Job
from repro.models.mamba import MambaClassifier, MambaConfig
from repro.studies.ssm_peft import experiments

with Job(snakemake) as job:
    state, config = load_checkpoint(snakemake.input.model, job.device)
    model = MambaClassifier(MambaConfig(**config)).to(job.device)
    model.load_state_dict(state)
    print("[ssm_peft] data: sklearn digits (bundled)")
    table = experiments.finetune(model, job.cfg, job.seed, job.device, snakemake.params.split_seed,
                                 desc=f"ssm_peft/finetune s{job.seed}")
    job.write_parquet(table.assign(device=str(job.device)), snakemake.output.table)
