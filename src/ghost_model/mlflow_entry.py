"""The code MLflow runs to rebuild a logged partner-risk model ("models from code").

:func:`ghost_model.registry.log_model` logs this file as the model's code instead of
a pickled Python object, so loading a version from the registry imports
:class:`~ghost_model.registry.PartnerRiskPyfunc` from the installed package and reads
the model's own files (``booster.txt``, ``model.json``); no serialized Python object
is executed on load.
"""

from mlflow.models import set_model

from ghost_model.registry import PartnerRiskPyfunc

set_model(PartnerRiskPyfunc())
