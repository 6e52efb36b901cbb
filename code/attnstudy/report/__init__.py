"""The report, in the order a render runs:

    results   load one results set (validated by attnstudy.schema)
    style     palette, labels, model order, matplotlib style
    figkit    the figure registry (@figure(name, caption=...)) and shared drawing helpers
    figures   one function per figure, registered with its caption; imports figures_attention
              (attention statistics, training entropy, heat maps relative to uniform) and
              figures_seed (conicity)
    draw      save the figures (svg, png, csv) in worker processes, memoised
    facts     the context the templates read, computed from the results (seed_facts: the
              v3 sections' part, from analysis.json's seed_level section and sweep.json)
    citation  paper/citation.toml + the results' date and commit: the citation, BibTeX,
              the <head>'s citation tags and CITATION.cff
    fmt       number formats and the Jinja filters
    registry  numbering of sections, figures, tables and citations
    render    HTML (templates/, paper/prose/) and PDF
    pages     PDF layout: figures that would leave a page a third blank move past text
    readme    the README's results block

    ledger_text  the claims ledger's rule and result sentences (paper/prose/ledger.txt.j2),
                 added by the pipeline before it writes analysis.json
"""
