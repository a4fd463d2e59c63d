"""Typed service settings, read from ``VO_SERVICE_*`` environment variables.

One :class:`Settings` object is built at start-up (``Settings.load()``), checked, and passed
explicitly to everything that needs it; nothing reads the environment behind its back.
An optional settings file (``VO_SERVICE_SETTINGS_FILE``, YAML) supplies defaults that the
environment overrides.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["QUOTA_LIMITS", "Settings", "SettingsError"]

#: The limits a quota class may set (``docs/users.md``).
QUOTA_LIMITS = frozenset(
    {
        "max_pending_jobs",
        "max_active_jobs",
        "max_jobs_per_day",
        "max_execution_seconds_per_day",
        "max_result_bytes_per_day",
        "max_science_windows",
    }
)


class SettingsError(ValueError):
    """Raised when the configuration cannot be used; the message names the setting."""


class Settings(BaseSettings):
    """Everything the service can be configured with.

    Paths default to folders under ``data_dir`` so that the embedded default needs no
    configuration at all.
    """

    model_config = SettingsConfigDict(env_prefix="VO_SERVICE_", extra="forbid")

    data_dir: Path = Field(Path("var"), description="Root folder of the embedded defaults.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir."
    )
    archive_path: Path | None = Field(None, description="Archive root (holds scw/ and ic/).")
    store_path: Path | None = Field(None, description="Product store folder.")
    cache_path: Path | None = Field(None, description="Intermediate-product cache folder.")
    cache_budget_bytes: int = Field(20 * 1024**3, ge=0, description="Cache size budget.")
    demo_scenario: str = Field("demo", description="Scenario simulated when the archive is empty.")

    executor: str = Field(
        "local", description="'inline', 'local' (a Dask LocalCluster) or 'dask' (a scheduler)."
    )
    dask_scheduler: str | None = Field(None, description="Address of an existing Dask scheduler.")
    dask_workers: int | None = Field(
        None, ge=1, description="LocalCluster workers (default: cores)."
    )

    public_base_url: str = Field("http://127.0.0.1:8080", description="Base URL seen by clients.")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    authority: str = Field("codedmask.example.org", description="IVOA naming authority.")
    service_name: str = Field("isgri", description="Resource key under the authority.")
    publisher: str = Field(
        "Coded-mask VO service operators", description="Publisher named in the registry record."
    )
    contact_name: str = Field("Service operators", description="Contact in the registry record.")
    contact_email: str = Field(
        "vo-admin@codedmask.example.org", description="Contact and OAI-PMH admin e-mail."
    )

    allow_anonymous: bool = True
    max_execution_duration: int = Field(3600, ge=1, description="Cap on UWS executionduration (s).")
    default_destruction_days: int = Field(7, ge=1)
    wait_cap: int = Field(60, ge=1, description="Longest UWS WAIT the server honours (s).")
    sync_timeout: int = Field(60, ge=1, description="How long /sync waits before redirecting.")
    max_pointings: int = Field(50, ge=1, description="Per-job ScW limit before sharding.")
    runner_poll_interval: float = Field(0.2, gt=0)
    max_destruction_days: int = Field(30, ge=1, description="Longest UWS job lifetime.")
    uws_identity: str = Field(
        "header", description="Job owners from 'header' (trusted proxy), 'basic' or 'none'."
    )
    uws_identity_header: str = Field("X-Remote-User", description="Header a front proxy sets.")
    uws_users_file: Path | None = Field(
        None, description="'name:werkzeug-hash' lines for uws_identity='basic'."
    )
    uws_work_path: Path | None = Field(
        None, description="Job work folders (default data_dir/jobs)."
    )
    uws_demo_kinds: bool = Field(
        False, description="Offer the echo/sleep/fail demo job kinds (smoke tests)."
    )
    runner_slots: int = Field(2, ge=1, description="Jobs one runner executes at once.")
    runner_max_attempts: int = Field(
        1, ge=1, description="Starts of a job before a runner loss ends it in ERROR."
    )
    max_request_bytes: int = Field(
        16 * 1024**2,
        ge=1024,
        description="Largest request body (bytes); a longer one is refused with 413 unread.",
    )
    name_resolver_timeout: float = Field(3.0, gt=0)
    oda_token_secret: SecretStr | None = Field(
        None,
        description="Shared secret (HS256) of ODA tokens given to /oda; unset: tokens are ignored.",
    )
    tokens: bool = Field(
        True, description="Accept the service's bearer tokens (Authorization: Bearer, token=)."
    )
    token_secret: SecretStr | None = Field(
        None,
        description="Signing key of bearer tokens (>= 32 characters); unset: a random key "
        "kept in data_dir/token.key (set it when several machines serve the same database).",
    )
    token_audience: str | None = Field(
        None, description="Audience (aud) of bearer tokens; default: public_base_url."
    )
    token_lifetime_days: int = Field(30, ge=1, description="Default lifetime of issued tokens.")
    anonymous_client_lists: bool = Field(
        True, description="Each anonymous client (a cookie) sees only its own job list."
    )
    quota_classes: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Quota classes by name (JSON): each a mapping of limits (QUOTA_LIMITS); "
        "'default' for users without a class, 'anonymous' for anonymous requests; none: no "
        "quotas.",
    )
    quota_users: dict[str, str] = Field(
        default_factory=dict,
        description="User name -> quota class (JSON); else the class of the user's token.",
    )
    quota_roles: dict[str, str] = Field(
        default_factory=dict,
        description="Token role -> quota class (JSON), for tokens that name no class.",
    )
    notify_webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC signature of job webhooks (>= 16 characters); unset: "
        "NOTIFY=webhook:<url> is refused.",
    )
    smtp_host: str | None = Field(None, description="Mail server; unset: NOTIFY=email refused.")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = Field("vo-service@localhost", description="Sender of job e-mails.")
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    notify_max_attempts: int = Field(6, ge=1, description="Deliveries tried per notification.")
    notify_backoff_seconds: float = Field(
        30.0, gt=0, description="First retry delay of a notification (doubled each time)."
    )
    network_resolvers: bool = Field(
        True, description="Try Sesame/SIMBAD/NED before the local catalog."
    )

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in {"inline", "local", "dask"}:
            raise ValueError("must be one of 'inline', 'local', 'dask'")
        return value

    @field_validator("uws_identity")
    @classmethod
    def _known_identity(cls, value: str) -> str:
        if value not in {"header", "basic", "none"}:
            raise ValueError("must be one of 'header', 'basic', 'none'")
        return value

    @field_validator("quota_classes")
    @classmethod
    def _known_limits(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, limits in value.items():
            unknown = set(limits) - QUOTA_LIMITS
            if unknown:
                raise ValueError(
                    f"quota class {name!r}: unknown limit {sorted(unknown)[0]!r} "
                    f"(known: {', '.join(sorted(QUOTA_LIMITS))})"
                )
            if any(v < 0 for v in limits.values()):
                raise ValueError(f"quota class {name!r}: limits must not be negative")
        if value and "default" not in value:
            raise ValueError("quota classes need a 'default' class")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _scheduler_needed(self) -> Settings:
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError("executor 'dask' needs VO_SERVICE_DASK_SCHEDULER")
        if self.uws_identity == "basic" and self.uws_users_file is None:
            raise ValueError("uws_identity 'basic' needs VO_SERVICE_UWS_USERS_FILE")
        for name, mapping in (("quota_users", self.quota_users), ("quota_roles", self.quota_roles)):
            unknown = set(mapping.values()) - set(self.quota_classes)
            if unknown:
                raise ValueError(f"{name} names an unknown quota class {sorted(unknown)[0]!r}")
        return self

    # Resolved paths -------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        """Database URL, defaulting to a SQLite file in ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'service.sqlite').resolve()}"

    @property
    def resolved_archive_path(self) -> Path:
        """Archive root, defaulting to ``data_dir/archive``."""
        return (self.archive_path or self.data_dir / "archive").resolve()

    @property
    def resolved_store_path(self) -> Path:
        """Product store, defaulting to ``data_dir/products``."""
        return (self.store_path or self.data_dir / "products").resolve()

    @property
    def resolved_cache_path(self) -> Path:
        """Cache folder, defaulting to ``data_dir/cache``."""
        return (self.cache_path or self.data_dir / "cache").resolve()

    @property
    def resolved_uws_work_path(self) -> Path:
        """UWS job work folders, defaulting to ``data_dir/jobs``."""
        return (self.uws_work_path or self.data_dir / "jobs").resolve()

    @property
    def resolved_token_audience(self) -> str:
        """Audience of bearer tokens, defaulting to the public base URL."""
        return self.token_audience or self.public_base_url

    @property
    def ivoid(self) -> str:
        """The service's IVOA identifier."""
        return f"ivo://{self.authority}/{self.service_name}"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from the optional file, the environment, then ``overrides``.

        Raises
        ------
        SettingsError
            With the offending setting named, when a value is invalid.
        """
        file_values: dict[str, Any] = {}
        settings_file = os.environ.get("VO_SERVICE_SETTINGS_FILE")
        if settings_file:
            try:
                loaded = yaml.safe_load(Path(settings_file).read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise SettingsError(
                    f"VO_SERVICE_SETTINGS_FILE: cannot read {settings_file}: {exc}"
                ) from exc
            if not isinstance(loaded, dict):
                raise SettingsError("VO_SERVICE_SETTINGS_FILE: must hold a mapping")
            env_names = {
                k[len("VO_SERVICE_") :].lower() for k in os.environ if k.startswith("VO_SERVICE_")
            }
            file_values = {k: v for k, v in loaded.items() if k not in env_names}
        try:
            return cls(**{**file_values, **overrides})
        except ValueError as exc:
            raise SettingsError(f"invalid settings: {exc}") from exc

    def ensure_dirs(self) -> None:
        """Create the writable folders the embedded defaults use."""
        for path in (self.data_dir, self.resolved_store_path, self.resolved_cache_path):
            path.mkdir(parents=True, exist_ok=True)
