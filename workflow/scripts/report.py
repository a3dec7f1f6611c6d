"""Adapter: gather every study's claims.json into results/REPORT.md and REPORT.html (with the alternate seed
set's verdicts beside them for the studies whose `robustness` run exists)."""
from pathlib import Path

from repro.core.claims import render_report, render_report_html
from repro.core.io import read_json, write_text
from repro.core.job import Job

with Job(snakemake) as job:
    by_study = {s: read_json(p) for s, p in zip(snakemake.params.studies, snakemake.input.claims)}
    robust = {Path(p).parent.name: read_json(p) for p in snakemake.input.robust}
    write_text(render_report(by_study, robust), snakemake.output.report)
    write_text(render_report_html(by_study, robust), snakemake.output.html)
