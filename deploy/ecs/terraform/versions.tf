# perfdata on ECS Fargate, beside Make an LPA (docs/deployment.md, "On ECS Fargate,
# beside the service"). OPG calls this module from its environment configuration:
#
#   module "perfdata" {
#     source = "path/to/perfdata/deploy/ecs/terraform"
#     ...    # variables.tf
#   }
#
# It creates the task definitions (from ../task-definitions/*.json), the services,
# the IAM roles (from ../iam/*.json), the log groups and the tasks' security group.
# The cluster, the VPC, the Aurora cluster, the secrets and the image repository are
# OPG's and are passed in.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}
