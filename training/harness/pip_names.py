"""Import name -> PyPI distribution, where they differ (stdlib only; data).

Written for this project from the packages' own documentation (the import name each one documents); the
common cases of data-science scripts. An import not listed is looked for on PyPI under its own name
(``seaborn`` -> ``seaborn``). Keys are top-level import names, or dotted ones where the top level is shared
(``google.protobuf``).
"""

from __future__ import annotations

PIP_NAMES: dict[str, str] = {
    "cv2": "opencv-python-headless",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "keras_preprocessing": "keras-preprocessing",
    "dotenv": "python-dotenv",
    "Crypto": "pycryptodome",
    "google.protobuf": "protobuf",
    "tf_keras": "tf-keras",
    "dateutil": "python-dateutil",
    "Levenshtein": "python-Levenshtein",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "magic": "python-magic",
    "serial": "pyserial",
    "usb": "pyusb",
    "jose": "python-jose",
    "jwt": "pyjwt",
    "git": "gitpython",
    "OpenSSL": "pyopenssl",
    "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary",
    "sqlalchemy": "SQLAlchemy",
    "attr": "attrs",
    "imblearn": "imbalanced-learn",
    "umap": "umap-learn",
    "Bio": "biopython",
    "fitz": "pymupdf",
    "tensorflow_hub": "tensorflow-hub",
    "tensorflow_datasets": "tensorflow-datasets",
    "tensorflow_addons": "tensorflow-addons",
    "mpl_toolkits": "matplotlib",
    "pylab": "matplotlib",
    "category_encoders": "category-encoders",
    "pandas_profiling": "pandas-profiling",
    "ydata_profiling": "ydata-profiling",
    "zmq": "pyzmq",
    "win32api": "pywin32",
}


def pip_name(module: str) -> str:
    """The distribution to install for an imported module (``cv2`` -> ``opencv-python-headless``)."""
    top = module.split(".")[0]
    return PIP_NAMES.get(module) or PIP_NAMES.get(top) or top
