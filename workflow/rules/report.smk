# The cross-study claims report.


rule report:
    input:
        claims=expand("results/{study}/claims.json", study=STUDIES),
        lib=lib("workflow/scripts/report.py"),
    output:
        report="results/REPORT.md",
    log:
        "logs/report.log",
    localrule: True
    conda:
        ENV
    params:
        studies=STUDIES,
    message:
        "Gathering claims of {params.studies} into {output.report}"
    script:
        "../scripts/report.py"
