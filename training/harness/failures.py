"""What a script's exception means for the user, in one line (stdlib only).

A missing package or data file, or a download in a trial without network, will fail the same way whatever the
tweaks do: those say what to add, and the run stops after the baseline.
"""

from __future__ import annotations

#: Import name -> the name to put in requirements.txt, where they differ.
PIP_NAMES = {
    "cv2": "opencv-python-headless", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml",
    "skimage": "scikit-image", "bs4": "beautifulsoup4", "keras_preprocessing": "keras-preprocessing",
    "dotenv": "python-dotenv", "Crypto": "pycryptodome", "google.protobuf": "protobuf", "tf_keras": "tf-keras",
}


def explain(error: BaseException, where: str) -> tuple[str, str]:
    """``(kind, message)`` for an exception raised by the user's script at ``where`` (``file:line``).

    Kinds: ``missing_package``, ``missing_file``, ``download`` (no tweak fixes those) and ``script_error``.
    """
    name = type(error).__name__
    if isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
        pip = PIP_NAMES.get(error.name) or PIP_NAMES.get(top) or top
        return "missing_package", (f"{where} imports {error.name}, which is not installed: add {pip} to "
                                   "requirements.txt (or packages: in mlops.yaml)")
    if isinstance(error, FileNotFoundError) and error.filename:
        return "missing_file", (f"{where} raised FileNotFoundError: {error.filename} does not exist in the trial; "
                                "add the file to the project, or map its folder with paths: in mlops.yaml")
    text = str(error)
    if "URL fetch failure" in text or ("urlopen error" in text and "http" in text):
        return "download", (f"{where} tries to download ({text[:160]}), but trials have no network: put the file "
                            "in the datasets cache (datasets_cache: in mlops.yaml or MLOPS_DATASETS_CACHE), or set "
                            "trial.network: true")
    return "script_error", f"{where} raised {name}: {error}"
