"""The core: configuration, records, errors, the store, the registry, the gate, data, notifications and where code
runs (infra/). It imports nothing from training/, monitor/ or the application (mlops/)."""
