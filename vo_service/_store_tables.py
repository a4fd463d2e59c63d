"""Tables of the product store (SQLAlchemy 2 typed ORM)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["ProductAnswerRow", "ProductRow", "ServiceBase"]


class ServiceBase(DeclarativeBase):
    """Declarative base of the service's own tables."""


class ProductRow(ServiceBase):
    """A product in the store, named by its provenance hash."""

    __tablename__ = "product"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_type: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    product_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    progenitors: Mapped[list[str]] = mapped_column(JSON)


class ProductAnswerRow(ServiceBase):
    """The results of a completed product request, by the key of its validated parameters."""

    __tablename__ = "product_answer"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Hashes of the stored products the results point to.
    products: Mapped[list[str]] = mapped_column(JSON)
    #: The job results (id, href, mime_type, size, primary).
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
