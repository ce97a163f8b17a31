"""Orchestrators of the rolling-deploy test."""
