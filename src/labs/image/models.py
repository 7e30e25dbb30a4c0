"""Image tables: images, their properties, tags and members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labs.common.columns import EXACT, MicroDateTime
from labs.common.db import new_metadata

ID = sa.String(64)


class ImageBase(DeclarativeBase):
    metadata = new_metadata()


class Image(ImageBase):
    __tablename__ = "image"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    visibility: Mapped[str] = mapped_column(sa.String(16), index=True)
    owner: Mapped[str | None] = mapped_column(ID, index=True)
    protected: Mapped[bool] = mapped_column(default=False)
    os_hidden: Mapped[bool] = mapped_column(default=False)
    disk_format: Mapped[str | None] = mapped_column(sa.String(16))
    container_format: Mapped[str | None] = mapped_column(sa.String(16))
    min_disk: Mapped[int] = mapped_column(default=0)
    min_ram: Mapped[int] = mapped_column(default=0)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    checksum: Mapped[str | None] = mapped_column(sa.String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(sa.String(16))
    os_hash_value: Mapped[str | None] = mapped_column(sa.String(128))
    #: Where the store keeps the data (a file name under the store directory).
    location: Mapped[str | None] = mapped_column(sa.String(255))
    #: Bytes reserved against the owner's quota while an upload runs.
    reserved: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Tag(ImageBase):
    __tablename__ = "image_tag"
    image_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("image.id", ondelete="CASCADE"),
                                          primary_key=True)
    value: Mapped[str] = mapped_column(EXACT, primary_key=True, index=True)


class Member(ImageBase):
    """A project an image is shared with, and whether it accepted."""

    __tablename__ = "image_member"
    image_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("image.id", ondelete="CASCADE"),
                                          primary_key=True)
    member: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Task(ImageBase):
    """An asynchronous operation on an image (Glance's tasks): an import, for now. A task
    outlives its image, as in Glance, until it expires."""

    __tablename__ = "image_task"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    owner: Mapped[str | None] = mapped_column(ID, index=True)
    image_id: Mapped[str | None] = mapped_column(ID, index=True)
    user_id: Mapped[str | None] = mapped_column(ID)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    input: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
