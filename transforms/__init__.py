"""Pipeline stages: one module per stage, each exposing one public PTransform."""
