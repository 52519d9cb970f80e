"""MLflow app plugin `mlflow-aws`: basic-auth, users as code and the promotion rule (issue 9)."""
