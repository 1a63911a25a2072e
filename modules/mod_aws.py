"""``mod_aws``: Amazon S3 uploads and SQS queues from DSM scripts (``modules.md`` section 3).

Why boto3: it is the maintained AWS client for Python, signs requests for
any S3/SQS-compatible service and reports failures as two exception
families (``ClientError`` for an answer of the service, ``BotoCoreError``
for transport and credential problems), which map onto the reference's
``AWSException`` text in ``$aws.ereason``.

Preload (M-api-6) is mandatory, as in the reference: it reads ``aws.conf``
(``config.md`` K-41) from the plug-in configuration directory
(``plugin_config_path`` of ``dsm.conf``) and creates one S3 and one SQS
client shared by all sessions (boto3 clients are thread-safe; they keep
their own connection pool, so ``s3_initial_connections`` and
``sqs_initial_connections`` are read and only bound the pool size).

Extensions of ``aws.conf`` (not in the reference, which only talks to
Amazon): ``aws_endpoint_url`` (an S3/SQS-compatible service such as MinIO,
LocalStack or moto; ``s3_endpoint_url``/``sqs_endpoint_url`` override it per
service), ``aws_region`` (default ``us-east-1``) and ``aws_timeout`` (seconds
for connecting and for each read, default 10; requests are not retried, so a
stopped service fails at once).

REFERENCE QUIRKS reproduced: ``aws.sqs.sendMessage`` does not clear
``$errno`` on success and stores the message *id* in ``$aws.sqs.url``;
``aws.sqs.receiveMessage`` and ``aws.sqs.deleteMessage`` only log an error
after their checks (they are placeholders in the reference, M-aws-7/8).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.registry import Module, plugin_config_dir
from dsm.runtime.session import LEVEL_ERROR, LEVEL_WARN
from dsm.runtime.values import parse_uint

__all__ = ["module", "preload", "reset", "AwsClients", "read_aws_conf"]

module = Module("mod_aws", doc="Amazon S3 and SQS (modules.md section 3)")

BUCKET = "aws.s3.bucket"
QUEUE = "aws.sqs.queue"
EREASON = "aws.ereason"
SQS_URL = "aws.sqs.url"
SQS_MD5 = "aws.sqs.md5"


@dataclass(frozen=True)
class AwsClients:
    """The two process-wide clients created at preload (M-api-2)."""

    s3: Any
    sqs: Any


_clients: AwsClients | None = None
_lock = threading.Lock()


def reset() -> None:
    """Forget the preloaded clients (as before preload); for tests and reloads."""
    global _clients
    with _lock:
        _clients = None


def read_aws_conf(directory: str) -> dict[str, str] | str:
    """``aws.conf`` of ``directory`` as a mapping, or the reason it cannot be used."""
    from dsm.runtime.config import read_conf  # the CF-2 reader of the server's .conf files

    path = os.path.join(directory, "aws.conf")
    if not os.path.isfile(path):
        return f"{path} not found"
    conf = read_conf(path)
    errors = [d for d in conf.diagnostics if d.severity == "error"]
    if errors:
        return f"{path}:{errors[0].line}: {errors[0].message}"
    return dict(conf.values)


def _make_clients(values: Mapping[str, str]) -> AwsClients:
    import boto3
    from botocore.config import Config

    timeout = float(parse_uint(values.get("aws_timeout", "")) or 10)
    pools = []
    for key in ("s3_initial_connections", "sqs_initial_connections"):
        n = parse_uint(values.get(key, ""))
        pools.append(max(10, n or 0))
    session = boto3.session.Session(
        aws_access_key_id=values["aws_access_key"],
        aws_secret_access_key=values["aws_secret_access_key"],
        region_name=values.get("aws_region") or "us-east-1",
    )
    common = values.get("aws_endpoint_url") or None

    def client(service: str, pool: int) -> Any:
        cfg = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool,
        )
        endpoint = values.get(f"{service}_endpoint_url") or common
        return session.client(service, endpoint_url=endpoint, config=cfg)

    return AwsClients(client("s3", pools[0]), client("sqs", pools[1]))


@module.preload
def preload(config: Any = None, log: Any = None) -> int:
    """M-api-6 / K-41: read ``aws.conf`` and create the clients; non-zero on any problem."""
    global _clients
    emit = log if callable(log) else (lambda level, msg: None)
    directory = plugin_config_dir(config)
    if directory is None:
        emit(LEVEL_ERROR, "mod_aws: no plug-in configuration directory (plugin_config_path)")
        return 1
    values = read_aws_conf(directory)
    if isinstance(values, str):
        emit(LEVEL_ERROR, f"mod_aws: {values}")
        return 1
    if not values.get("aws_access_key") or not values.get("aws_secret_access_key"):
        emit(LEVEL_ERROR, "aws_access_key / aws_secret_access_key must be configured in aws.conf!")
        return 1
    try:
        clients = _make_clients(values)
    except Exception as exc:  # a bad endpoint URL or region: the preload fails, with the reason
        emit(LEVEL_ERROR, f"mod_aws: creating AWS clients: {exc}")
        return 1
    with _lock:
        _clients = clients
    return 0


def _failure_text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


# --------------------------------------------------------------------------- S3
def _s3_client(ctx: ActionContext) -> Any:
    clients = _clients
    if clients is None:
        ctx.log(LEVEL_ERROR, "mod_aws must be preloaded!")
        raise DSMException("aws", {"cause": "need preload"})
    if clients.s3 is None:
        raise DSMException("aws", {"cause": "get connection"})
    return clients.s3


def _put(s3: Any, bucket: str, path: str, key: str) -> None:
    with open(path, "rb") as fh:
        s3.put_object(Bucket=bucket, Key=key, Body=fh, ContentType="application/octet-stream")


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


@module.action("aws.s3.put", style="P,opt")
def s3_put(ctx: ActionContext, p1: str, p2: str) -> None:
    """M-aws-1: upload one file to ``$aws.s3.bucket``; the key defaults to the file name."""
    s3 = _s3_client(ctx)
    filename = ctx.resolve(p1)
    key = ctx.resolve(p2)
    bucket = ctx.vars.get(BUCKET, "")
    if not bucket:
        ctx.log(LEVEL_ERROR, "S3: trying to put in empty bucket!")
        ctx.raise_dsm("aws", cause="empty bucket")
    if not _readable(filename):
        ctx.log(LEVEL_WARN, f"file not found or accessible: '{filename}'")
        ctx.raise_dsm("aws", cause="file not found")
    try:
        _put(s3, bucket, filename, key or filename)
    except _aws_errors() as exc:
        ctx.log(LEVEL_WARN, f"S3 put failed: '{_failure_text(exc)}'")
        ctx.vars[EREASON] = _failure_text(exc)
        ctx.set_error("aws_put")  # strerror untouched (M-aws-1)
        return
    ctx.clear_error()


@module.action("aws.s3.putArray", style="P,opt")
def s3_put_array(ctx: ActionContext, p1: str, p2: str) -> None:
    """M-aws-2: upload ``$<files>_0 …`` under the keys ``$<keys>_0 …``."""
    s3 = _s3_client(ctx)
    files = ctx.resolve(p1)
    keys = ctx.resolve(p2) or files
    vs = ctx.vars
    counts = []
    for name in (files, keys):
        n = parse_uint(vs.get(f"{name}_size", ""))
        if n is None:
            ctx.set_error("arg", f"determining size of '{name}' array\n")
            return
        counts.append(n)
    count = counts[0]
    for i in range(count):
        if not vs.get(f"{files}_{i}", ""):
            ctx.set_error("arg", f"missing file name ${files}_{i}\n")
            return
    bucket = vs.get(BUCKET, "")
    if not bucket:
        ctx.set_error("arg", "S3: trying to put with empty bucket name!\n")
        return
    for i in range(count):
        filename = vs.get(f"{files}_{i}", "")
        key = vs.get(f"{keys}_{i}", "") or filename
        if not _readable(filename):
            ctx.set_error("aws_put", f"file not found or accessible: '{filename}'\n")
            return
        try:
            _put(s3, bucket, filename, key)
        except _aws_errors() as exc:
            text = _failure_text(exc)
            ctx.log(LEVEL_WARN, f"S3 put failed: '{text}'")
            vs[EREASON] = text
            ctx.set_error("aws_put", text)
            continue
        ctx.clear_error()


@module.action("aws.s3.createBucket", style="S")
def s3_create_bucket(ctx: ActionContext, arg: str) -> None:
    """M-aws-3: create a bucket (the argument or ``$aws.s3.bucket``) and remember its name."""
    s3 = _s3_client(ctx)
    bucket = ctx.resolve(arg) or ctx.vars.get(BUCKET, "")
    if not bucket:
        ctx.set_error("arg", "S3: trying to create bucket with empty bucket name!")
        return
    try:
        s3.create_bucket(Bucket=bucket)
    except _aws_errors() as exc:
        text = _failure_text(exc)
        ctx.vars[EREASON] = text
        ctx.set_error("aws_create", text)
        return
    ctx.vars[BUCKET] = bucket
    ctx.clear_error()


# --------------------------------------------------------------------------- SQS
def _sqs_client(ctx: ActionContext) -> Any | None:
    clients = _clients
    if clients is None:
        ctx.log(LEVEL_ERROR, "mod_aws must be preloaded!")
        ctx.set_error("arg", "mod_aws must be preloaded")
        return None
    if clients.sqs is None:
        ctx.set_error("aws_conn", "getting SQS connection from connection pool")
        return None
    return clients.sqs


def _queue_arg(ctx: ActionContext, text: str) -> str | None:
    queue = ctx.resolve(text) or ctx.vars.get(QUEUE, "")
    if not queue:
        ctx.log(LEVEL_ERROR, "SQS: trying to operate on empty queue name!")
        ctx.set_error("arg", "SQS: trying to operate on empty queue name!")
        return None
    return queue


def _queue_url(sqs: Any, queue: str) -> str:
    """A queue URL as given, or the URL of the queue of that name."""
    if queue.startswith(("http://", "https://")):
        return queue
    return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])


def _sqs_failed(ctx: ActionContext, errno: str, what: str, exc: Exception) -> None:
    text = _failure_text(exc)
    ctx.log(LEVEL_WARN, f"SQS {what} failed: '{text}'")
    ctx.vars[EREASON] = text
    ctx.set_error(errno, text)


@module.action("aws.sqs.createQueue", style="P,opt")
def sqs_create_queue(ctx: ActionContext, p1: str, p2: str) -> None:
    """M-aws-4: create a queue; ``$aws.sqs.queue`` becomes its URL."""
    sqs = _sqs_client(ctx)
    if sqs is None:
        return
    text = ctx.resolve(p1)
    timeout = parse_uint(text)
    if timeout is None:
        ctx.set_error("arg", f"unable to determine aVisibilityTimeout '{text}' for new queue\n")
        return
    queue = _queue_arg(ctx, p2)
    if queue is None:
        return
    try:
        res = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": str(timeout)})
    except _aws_errors() as exc:
        _sqs_failed(ctx, "aws_create", "create", exc)
        return
    ctx.vars[QUEUE] = str(res["QueueUrl"])
    ctx.clear_error()


@module.action("aws.sqs.deleteQueue", style="S")
def sqs_delete_queue(ctx: ActionContext, arg: str) -> None:
    """M-aws-5: delete the queue (argument or ``$aws.sqs.queue``, a name or a URL)."""
    sqs = _sqs_client(ctx)
    if sqs is None:
        return
    queue = _queue_arg(ctx, arg)
    if queue is None:
        return
    try:
        sqs.delete_queue(QueueUrl=_queue_url(sqs, queue))
    except _aws_errors() as exc:
        _sqs_failed(ctx, "aws_delete", "delete", exc)
        return
    ctx.clear_error()


@module.action("aws.sqs.sendMessage", style="P,opt")
def sqs_send_message(ctx: ActionContext, p1: str, p2: str) -> None:
    """M-aws-6: send ``R(p1)``; the message id goes to ``$aws.sqs.url`` (QUIRK), its MD5 to ``$aws.sqs.md5``."""
    sqs = _sqs_client(ctx)
    if sqs is None:
        return
    body = ctx.resolve(p1)
    queue = _queue_arg(ctx, p2)
    if queue is None:
        return
    try:
        res = sqs.send_message(QueueUrl=_queue_url(sqs, queue), MessageBody=body)
    except _aws_errors() as exc:
        _sqs_failed(ctx, "aws_send", "send", exc)
        return
    ctx.vars[SQS_URL] = str(res.get("MessageId", ""))
    ctx.vars[SQS_MD5] = str(res.get("MD5OfMessageBody", ""))


def _placeholder(ctx: ActionContext, name: str) -> None:
    if _sqs_client(ctx) is None:
        return
    ctx.log(LEVEL_ERROR, f"{name}: TODO - not implemented in the reference either")


@module.action("aws.sqs.receiveMessage", style="raw")
def sqs_receive_message(ctx: ActionContext, raw: str) -> None:
    """M-aws-7: a placeholder in the reference; after its checks it only logs an error."""
    _placeholder(ctx, "aws.sqs.receiveMessage")


@module.action("aws.sqs.deleteMessage", style="raw")
def sqs_delete_message(ctx: ActionContext, raw: str) -> None:
    """M-aws-8: a placeholder in the reference; after its checks it only logs an error."""
    _placeholder(ctx, "aws.sqs.deleteMessage")
