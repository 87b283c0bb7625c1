"""Where the console opens: a region and a service of a fixed list, per partition.

The sign-in URL's `Destination` is built here from two values that must each be one of
a known list (the partition's regions, partitions.py; the services below): nothing a
person typed ever reaches the URL. Nothing chosen keeps the partition's console home,
`https://console.aws.amazon.com/`, exactly as before regions could be chosen.

    region and service: https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1
    region only:        https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1
    service only:       https://console.aws.amazon.com/ec2/home  (the console's last region)

aws-us-gov and aws-cn have one console host: https://console.amazonaws.cn/ec2/home?region=...

The regional sign-in endpoint (`<region>.signin.aws.amazon.com`, IAM User Guide "Enable
custom identity broker access to the AWS console") is used for a chosen region of the
commercial partition; us-east-1's is the global host itself (General Reference, "AWS
Sign-In endpoints"). The token and the login URL must use the same endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from .partitions import PARTITIONS


@dataclass(frozen=True)
class ConsoleService:
    slug: str
    label: str
    # The console's path for the service's home page. Where AWS moved a console, the old
    # path answers with a redirect, so these keep working.
    path: str


# The services the Access button may open, by slug (what accounts and the API store).
SERVICES: dict[str, ConsoleService] = {
    s.slug: s
    for s in (
        ConsoleService("acm", "Certificate Manager", "acm/home"),
        ConsoleService("apigateway", "API Gateway", "apigateway/home"),
        ConsoleService("athena", "Athena", "athena/home"),
        ConsoleService("billing", "Billing and Cost Management", "billing/home"),
        ConsoleService("cloudformation", "CloudFormation", "cloudformation/home"),
        ConsoleService("cloudfront", "CloudFront", "cloudfront/home"),
        ConsoleService("cloudtrail", "CloudTrail", "cloudtrail/home"),
        ConsoleService("cloudwatch", "CloudWatch", "cloudwatch/home"),
        ConsoleService("config", "Config", "config/home"),
        ConsoleService("dynamodb", "DynamoDB", "dynamodbv2/home"),
        ConsoleService("ec2", "EC2", "ec2/home"),
        ConsoleService("ecr", "Elastic Container Registry", "ecr/home"),
        ConsoleService("ecs", "Elastic Container Service", "ecs/home"),
        ConsoleService("eks", "Elastic Kubernetes Service", "eks/home"),
        ConsoleService("elasticache", "ElastiCache", "elasticache/home"),
        ConsoleService("events", "EventBridge", "events/home"),
        ConsoleService("glue", "Glue", "glue/home"),
        ConsoleService("guardduty", "GuardDuty", "guardduty/home"),
        ConsoleService("iam", "IAM", "iam/home"),
        ConsoleService("kms", "Key Management Service", "kms/home"),
        ConsoleService("lambda", "Lambda", "lambda/home"),
        ConsoleService("rds", "RDS", "rds/home"),
        ConsoleService("route53", "Route 53", "route53/home"),
        ConsoleService("s3", "S3", "s3/home"),
        ConsoleService("secretsmanager", "Secrets Manager", "secretsmanager/home"),
        ConsoleService("securityhub", "Security Hub", "securityhub/home"),
        ConsoleService("sns", "SNS", "sns/home"),
        ConsoleService("sqs", "SQS", "sqs/home"),
        ConsoleService("ssm", "Systems Manager", "systems-manager/home"),
        ConsoleService("stepfunctions", "Step Functions", "states/home"),
        ConsoleService("vpc", "VPC", "vpc/home"),
    )
}
# The console's own home page, for a region with no service.
CONSOLE_HOME_PATH = "console/home"


class ConsoleChoiceError(ValueError):
    """A region or service that is not on its list: `field` ("region" or "service")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_region(partition: str, region: str) -> str:
    """`region`, if it is one of `partition`'s; else ConsoleChoiceError on "region"."""
    known = PARTITIONS[partition].regions
    if region not in known:
        raise ConsoleChoiceError(
            "region",
            f'"{region[:40]}" is not a region of the AWS partition {partition} (one of: '
            f"{', '.join(known)}).",
        )
    return region


def check_service(service: str) -> str:
    """`service`, if it is on the console list; else ConsoleChoiceError on "service"."""
    if service not in SERVICES:
        raise ConsoleChoiceError(
            "service",
            f'"{service[:40]}" is not a console service this app opens (one of: '
            f"{', '.join(SERVICES)}).",
        )
    return service


def console_url(partition: str, region: str = "", service: str = "") -> str:
    """The `Destination`: the partition's console home when neither is given."""
    p = PARTITIONS[partition]
    if region:
        check_region(partition, region)
    if service:
        check_service(service)
    if not region and not service:
        return p.console_url
    path = SERVICES[service].path if service else CONSOLE_HOME_PATH
    if not region:
        return f"{p.console_url}{path}"
    host = f"{region}.{p.console_host}" if p.regional_console else p.console_host
    return f"https://{host}/{path}?{urlencode({'region': region})}"


def signin_host(partition: str, region: str = "") -> str:
    """The federation endpoint's host: the regional one for a chosen region where AWS
    has one (the commercial partition, but for us-east-1, whose host is the global one)."""
    p = PARTITIONS[partition]
    if region and p.regional_signin and region != p.default_region:
        check_region(partition, region)
        return f"{region}.{p.signin_host}"
    return p.signin_host
