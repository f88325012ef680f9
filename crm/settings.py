"""Settings, read once from the environment (prefix ``CRM_``) and cached.

Nothing else in the project reads the environment: callers take a
:class:`Settings` (or :func:`get_settings`) and pass values down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Platform settings; every field can be set as ``CRM_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded database and files live.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; empty means an SQLite file under data_dir. "
        "Use postgresql+psycopg://user:pass@host/db for PostgreSQL.",
    )
    default_region: str = Field("RU", description="Region for phone numbers written without +code.")
    default_currency: str = "RUB"
    default_timezone: str = "Europe/Moscow"

    # personal CRM budget (S4)
    margin: float = Field(0.30, description="Gross margin applied to predicted revenue.")
    budget_share: float = Field(0.10, description="Share of predicted margin spent on a customer.")
    value_horizon_days: int = 365

    # campaigns (C3, C5)
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where the gateway's unsubscribe, click and open endpoints are reached.",
    )
    email_from: str = Field("CRM <noreply@example.com>", description="The From of campaign emails.")
    quiet_hours_start: str = Field("21:00", description="Local time quiet hours begin (HH:MM).")
    quiet_hours_end: str = Field("09:00", description="Local time quiet hours end (HH:MM).")
    frequency_per_day: int = Field(1, description="Messages per person per day, all campaigns.")
    frequency_per_week: int = Field(3, description="Messages per person per week, all campaigns.")
    sms_segment_cost: float = Field(2.5, description="Price of one SMS segment (currency units).")

    # gateway
    secret_key: SecretStr = SecretStr("dev-secret-change-me")
    loyalty_rules: Path = Field(
        Path("loyalty/rules.example.yaml"), description="The loyalty rules the gateway quotes with."
    )
    link_max_age_days: int = Field(
        400, description="Unsubscribe and tracking links older than this are refused."
    )
    api_max_body_bytes: int = Field(64_000, description="Largest request body the gateway reads.")
    api_rate_per_s: float = Field(2_000.0, description="Requests per second allowed per API key.")
    api_rate_burst: int = Field(4_000, description="Burst of requests allowed per API key.")
    api_sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="PRAGMA synchronous of the gateway's intake writer on SQLite (its own "
        "connection only); what each one guarantees: api/groupcommit.py.",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_tls: bool = Field(False, description="Connect with implicit TLS (SMTPS, port 465).")
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    sms_provider_url: str = Field(
        "http://127.0.0.1:8025",
        description="Base URL of the SMS provider (its contract: api/delivery.py).",
    )
    sms_provider_token: SecretStr = SecretStr("")
    worker_batch: int = Field(200, description="Outbox messages a worker claims at once.")
    worker_concurrency: int = Field(4, description="Messages a worker sends at the same time.")
    worker_lease_s: float = Field(
        60.0, description="How long a claim holds before another worker may retry."
    )
    email_rate_per_s: float = Field(2_000.0, description="Emails per second per worker.")
    sms_rate_per_s: float = Field(200.0, description="SMS per second per worker.")

    # the heavy stages of the night (profiles, scores, segment evaluation): where they run
    task_runner: Literal["threads", "dask"] = Field(
        "threads",
        description="threads: in the flow's process (Prefect's default runner); dask: Prefect's "
        "Dask task runner, on the cluster at dask_address or a local one.",
    )
    dask_address: str = Field(
        "",
        description="Scheduler of a running Dask cluster (tcp://host:8786); empty starts a "
        "local cluster of dask_workers processes for the run.",
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local Dask cluster.")
    partitions: int = Field(
        0,
        ge=0,
        description="Parts of the base (by a hash of customer_id) the heavy stages run in; "
        "0: one with threads, two per Dask worker with dask.",
    )

    @property
    def heavy_partitions(self) -> int:
        """How many parts the heavy stages split the base into (``partitions`` resolved)."""
        if self.partitions:
            return self.partitions
        return 2 * self.dask_workers if self.task_runner == "dask" else 1

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/crm.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crm.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``cache_clear()`` in tests)."""
    return Settings()
