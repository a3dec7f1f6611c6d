"""Adapter: gather every study's claims.json into results/REPORT.md."""
from repro.core.claims import render_report
from repro.core.io import read_json, write_text
from repro.core.job import Job

with Job(snakemake) as job:
    by_study = {s: read_json(p) for s, p in zip(snakemake.params.studies, snakemake.input.claims)}
    write_text(render_report(by_study), snakemake.output.report)
