"""Adapter: gather every study's claims.json into results/REPORT.md and REPORT.html."""
from repro.core.claims import render_report, render_report_html
from repro.core.io import read_json, write_text
from repro.core.job import Job

with Job(snakemake) as job:
    by_study = {s: read_json(p) for s, p in zip(snakemake.params.studies, snakemake.input.claims)}
    write_text(render_report(by_study), snakemake.output.report)
    write_text(render_report_html(by_study), snakemake.output.html)
