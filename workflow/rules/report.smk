# The cross-study claims report.


rule report:
    input:
        claims=expand("results/{study}/claims.json", study=STUDIES),
        lib=lib("workflow/scripts/report.py"),
    output:
        report="results/REPORT.md",
        # the same claims table as one item of `snakemake --report`, beside the figures
        html=report(
            "results/REPORT.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        "logs/report.log",
    localrule: True
    conda:
        ENV
    params:
        studies=STUDIES,
    message:
        "Gathering claims of {params.studies} into {output.report} and {output.html}"
    script:
        "../scripts/report.py"
