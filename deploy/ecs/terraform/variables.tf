variable "name" {
  description = "Prefix of every name this module creates (task definition families, roles, log groups)."
  type        = string
  default     = "perfdata"
}

variable "account_id" {
  description = "The AWS account the service runs in."
  type        = string
}

variable "region" {
  description = "The region of the cluster (Make an LPA's: eu-west-1)."
  type        = string
}

variable "image" {
  description = "The perfdata image, by digest or by a tag never reused (REGISTRY/perfdata:GIT_SHA)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "The ECR repository the image is pulled from."
  type        = string
}

variable "cluster_name" {
  description = "The ECS cluster the service's own services run in."
  type        = string
}

variable "vpc_id" {
  description = "The service's VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the service's VPC (the application subnets)."
  type        = list(string)
}

variable "database_security_group_id" {
  description = "The Aurora cluster's security group: perfdata's tasks are let in on 5432."
  type        = string
}

variable "api_web_security_group_id" {
  description = "api-web's security group: it proxies to `perfdata serve` on 8000."
  type        = string
}

variable "webserver_ingress_security_group_ids" {
  description = "Security groups (e.g. an internal load balancer's) allowed to reach the Dagster UI on 3000."
  type        = list(string)
  default     = []
}

variable "service_discovery_namespace_id" {
  description = "A private Cloud Map DNS namespace in the VPC: the code server and `perfdata serve` register there."
  type        = string
}

variable "service_discovery_namespace_name" {
  description = "That namespace's DNS name (e.g. perfdata.internal)."
  type        = string
}

variable "dagster_pg" {
  description = "The Dagster instance's PostgreSQL database (its password is a secret, below)."
  type = object({
    host     = string
    port     = optional(string, "5432")
    user     = optional(string, "perfdata_dagster")
    database = optional(string, "perfdata_dagster")
  })
}

variable "secret_arns" {
  description = "Secrets Manager secrets, each holding one value."
  type = object({
    dagster_pg_password   = string # the Dagster database's password
    lpa_database_url      = string # LPA_DATABASE_URL
    perfdata_database_url = string # PERFDATA_DATABASE_URL
    api_token             = string # PERFDATA_API_TOKEN
  })
}

variable "start_date" {
  description = "PERFDATA_START_DATE: the first day perfdata loads."
  type        = string
  default     = "2019-04-01"
}

variable "sirius_base_url" {
  description = "SIRIUS_BASE_URL: Sirius's API gateway."
  type        = string
}

variable "sirius_channel_counts_arn" {
  description = "execute-api ARN of Sirius's channel-counts route: arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/GET/v1/lpa-online-tool/channel-counts"
  type        = string
}

variable "uptime_health_check_id" {
  description = "UPTIME_HEALTH_CHECK_ID: the Route 53 health check whose metric is the uptime KPI."
  type        = string
}

variable "publication_bucket" {
  description = "PERFDATA_PUBLICATION_BUCKET: OPG's bucket for the performance-data files."
  type        = string
}

variable "publication_prefix" {
  description = "PERFDATA_PUBLICATION_PREFIX: a folder in that bucket, ending in '/', or empty."
  type        = string
  default     = ""
}

variable "read_aws_costs" {
  description = "Let the run workers read Cost Explorer (the cost KPI's AWS bill, SERVICE_COST_AWS_ACCOUNTS)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "How long the log groups keep logs."
  type        = number
  default     = 400
}

variable "log_kms_key_arn" {
  description = "The KMS key that encrypts the log groups."
  type        = string
}
