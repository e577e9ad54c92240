"""Batch rescoring of the whole portfolio: features (``features.batch``) -> the champion
-> the policy (``scoring.Scorer``), written as chunked Parquet with a resume manifest, and
a change report against the previous run. Engines: local (:mod:`.rescore`) and Spark
(:mod:`.spark`)."""
