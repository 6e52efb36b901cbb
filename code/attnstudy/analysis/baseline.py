"""A strong linear reference: TF-IDF word uni+bigrams + logistic regression (scikit-learn).

Texts go through `attnstudy.data.text.normalise` (lowercase, NFKC, HTML tags removed) and
scikit-learn's default word pattern; bigrams and sublinear term frequencies are what make this
baseline strong on IMDb. The pipeline trains it on the same training part as the neural models
(validation rows held out) and scores the same test rows, so it can be compared review by review.
"""

from __future__ import annotations

import time

import numpy as np

from attnstudy.data.text import normalise
from attnstudy.metrics import metrics

NAME = "tfidf_logreg"


def tfidf_logreg(train_texts, train_labels, test_texts, test_labels, seed: int = 0,
                 C: float = 4.0) -> dict:
    """Fit on train, score test: {name, test: metrics, probs <float64>[n_test], seconds, ...}.

    `probs` is P(positive) per test text (in the given order); drop it before writing JSON.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=normalise,
                          dtype=np.float32)
    x_train = vec.fit_transform(train_texts)
    clf = LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=seed)
    clf.fit(x_train, np.asarray(train_labels))
    probs = clf.predict_proba(vec.transform(test_texts))[:, 1].astype(np.float64)
    return {
        "name": NAME,
        "description": f"TF-IDF word 1-2 grams (min_df=2, sublinear tf) + logistic regression "
                       f"(C={C:g}, liblinear)",
        "test": metrics(test_labels, probs),
        "probs": probs,
        "train_rows": int(len(train_labels)),
        "features": int(x_train.shape[1]),
        "seconds": float(time.perf_counter() - t0),
    }
