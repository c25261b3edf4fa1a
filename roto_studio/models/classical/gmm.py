"""Small weighted Gaussian mixture models of colour (numpy only), usable by cv2.grabCut.

cv2.grabCut keeps its colour models as 1x65 float arrays (5 components: weights, means,
covariances). Fitting our own (weighted samples, a fixed model, a mixture with a known
background) and handing them to grabCut with GC_EVAL_FREEZE_MODEL lets us control the colour
terms while OpenCV does the graph cut.
"""

from __future__ import annotations

import numpy as np

K = 5  # components; fixed by cv2.grabCut's model layout
_REG = 2.0  # added to covariance diagonals (colour units squared)


class ColourGMM:
    def __init__(self, k: int = K):
        self.k = k
        self.weights = np.full(k, 1.0 / k)
        self.means = np.zeros((k, 3))
        self.covs = np.tile(np.eye(3) * 100.0, (k, 1, 1))

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x: np.ndarray, w: np.ndarray | None = None, iters: int = 6,
            max_samples: int = 40000, seed: int = 0, init: "ColourGMM | None" = None) -> "ColourGMM":
        """Weighted EM on samples x (N, 3); w (N,) >= 0 sample weights. `init` warm-starts EM
        from another model (no k-means)."""
        x = np.asarray(x, np.float64).reshape(-1, 3)
        w = np.ones(len(x)) if w is None else np.asarray(w, np.float64).reshape(-1)
        keep = w > 1e-6
        x, w = x[keep], w[keep]
        rng = np.random.default_rng(seed)
        if len(x) == 0:
            return self
        if len(x) > max_samples:
            idx = rng.choice(len(x), max_samples, replace=False, p=w / w.sum())
            x, w = x[idx], np.ones(max_samples)
        if init is not None:
            self.weights, self.means, self.covs = init.weights.copy(), init.means.copy(), init.covs.copy()
        else:
            self._init_kmeans(x, w, rng)
        for _ in range(iters):
            r = self._resp(x) * w[:, None]
            self._m_step(x, r)
        return self

    def _init_kmeans(self, x, w, rng):
        k = min(self.k, len(x))
        # k-means++ style seeds, then a few Lloyd steps (weighted)
        centres = [x[rng.choice(len(x), p=w / w.sum())]]
        for _ in range(1, k):
            d = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            p = d * w
            if p.sum() <= 0:
                centres.append(x[rng.integers(len(x))])
            else:
                centres.append(x[rng.choice(len(x), p=p / p.sum())])
        c = np.array(centres)
        for _ in range(6):
            lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
            for j in range(k):
                sel = lab == j
                if sel.any():
                    c[j] = np.average(x[sel], axis=0, weights=w[sel])
        lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        r = np.zeros((len(x), self.k))
        r[np.arange(len(x)), lab] = 1.0
        self._m_step(x, r * w[:, None])

    def _m_step(self, x, r):
        nk = r.sum(0)
        total = nk.sum()
        for j in range(self.k):
            if nk[j] < 1e-3:
                # dead component: copy the heaviest with a tiny weight
                b = int(np.argmax(nk))
                self.means[j] = self.means[b] if nk[b] > 1e-3 else x.mean(0)
                self.covs[j] = np.eye(3) * 100.0
                self.weights[j] = 1e-4
                continue
            mu = r[:, j] @ x / nk[j]
            d = x - mu
            cov = (d * r[:, j:j + 1]).T @ d / nk[j] + np.eye(3) * _REG
            self.means[j], self.covs[j], self.weights[j] = mu, cov, nk[j] / total
        self.weights /= self.weights.sum()

    def component_loglik(self, x: np.ndarray) -> np.ndarray:
        """(N, k) log(weight_k * N(x | k))."""
        x = np.asarray(x, np.float64).reshape(-1, 3)
        out = np.empty((len(x), self.k))
        for j in range(self.k):
            inv = np.linalg.inv(self.covs[j])
            _, logdet = np.linalg.slogdet(self.covs[j])
            d = x - self.means[j]
            m = ((d @ inv) * d).sum(1)
            out[:, j] = np.log(max(self.weights[j], 1e-12)) - 0.5 * (m + logdet + 3 * np.log(2 * np.pi))
        return out

    def _resp(self, x):
        ll = self.component_loglik(x)
        ll -= ll.max(1, keepdims=True)
        r = np.exp(ll)
        return r / r.sum(1, keepdims=True)

    def loglik(self, x: np.ndarray) -> np.ndarray:
        ll = self.component_loglik(x)
        m = ll.max(1)
        return m + np.log(np.exp(ll - m[:, None]).sum(1))

    # -- cv2.grabCut model layout --------------------------------------------------------------
    def to_cv(self) -> np.ndarray:
        assert self.k == K
        return np.concatenate([self.weights, self.means.reshape(-1),
                               self.covs.reshape(-1)]).reshape(1, -1).astype(np.float64)
