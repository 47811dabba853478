"""Real local components for tests and the local run, started by the project's own code.

Each module starts one real server on loopback with free ports and a temporary directory, and
stops it cleanly: ``controlplane`` (etcd + kube-apiserver + kube-controller-manager built from
the pinned Kubernetes Go modules), ``mlflow_server`` (MLflow tracking server on sqlite),
``prometheus`` (the Debian Prometheus server) and ``mlserver`` (MLServer with our runtime).
"""
