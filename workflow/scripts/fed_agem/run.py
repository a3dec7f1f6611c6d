"""Adapter: every method of the grid on one scenario and seed -> one table."""
from repro.core.job import Job
from repro.studies.fed_agem import experiments

with Job(snakemake) as job:
    p = snakemake.params
    table = experiments.scenario_table(p.scenario, job.cfg, job.seed, job.device, data_root=p.data_root,
                                       desc=f"fed_agem/{p.scenario} s{job.seed}")
    job.write_parquet(table.assign(device=str(job.device)), snakemake.output.table)
