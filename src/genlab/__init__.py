"""genlab: every family of generative models through one API.

>>> import genlab
>>> data = genlab.datasets.load("digits")
>>> model = genlab.create("vae", latent_dim=16).fit(data.train, max_steps=50, progress=False)
>>> model.log_prob(data.test).shape == (len(data.test),)
True
"""

__version__ = "0.1.0"

from genlab import data as datasets  # noqa: E402
from genlab import exceptions, models  # noqa: E402
from genlab.metrics import evaluate  # noqa: E402
from genlab.models import available, create, load  # noqa: E402

__all__ = ["__version__", "create", "load", "available", "evaluate", "datasets", "models", "exceptions"]
