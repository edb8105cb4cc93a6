"""Autoscaling policies: Kubernetes HPA decision logic, scalar and vectorized."""
