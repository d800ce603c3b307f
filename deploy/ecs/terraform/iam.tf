# One execution role per process (pull the image, write its own log group, read its
# own secrets) and one task role per process that calls AWS: the webserver (stop a
# run's task), the daemon (run, watch and stop run tasks) and the run workers
# (CloudWatch, Sirius, OPG's bucket). The code server and `perfdata serve` call no AWS
# API, so they have no task role at all. docs/deployment.md says why each grant is there.

resource "aws_iam_role" "execution" {
  for_each = local.processes
  name     = "${var.name}-${each.key}-execution"
  assume_role_policy = templatefile("${path.module}/../iam/trust-ecs-tasks.json", {
    account_id = var.account_id
    region     = var.region
  })
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.processes
  name     = "${var.name}-${each.key}-execution"
  role     = aws_iam_role.execution[each.key].id
  policy = templatefile("${path.module}/../iam/execution.json", {
    account_id         = var.account_id
    region             = var.region
    ecr_repository_arn = var.ecr_repository_arn
    log_group          = local.log_group[each.key]
    secret_arns        = [for s in each.value.secrets : var.secret_arns[s]]
  })
}

resource "aws_iam_role" "task" {
  for_each = { for p, spec in local.processes : p => spec if spec.task_role }
  name     = "${var.name}-${each.key}-task"
  assume_role_policy = templatefile("${path.module}/../iam/trust-ecs-tasks.json", {
    account_id = var.account_id
    region     = var.region
  })
}

resource "aws_iam_role_policy" "webserver" {
  name = "${var.name}-webserver-task"
  role = aws_iam_role.task["webserver"].id
  policy = templatefile("${path.module}/../iam/webserver-task.json", {
    account_id   = var.account_id
    region       = var.region
    cluster_name = var.cluster_name
  })
}

resource "aws_iam_role_policy" "daemon" {
  name = "${var.name}-daemon-task"
  role = aws_iam_role.task["daemon"].id
  policy = templatefile("${path.module}/../iam/daemon-task.json", {
    account_id             = var.account_id
    region                 = var.region
    cluster_name           = var.cluster_name
    run_family             = local.family["run-worker"]
    run_task_role_arn      = aws_iam_role.task["run-worker"].arn
    run_execution_role_arn = aws_iam_role.execution["run-worker"].arn
    run_log_group          = local.log_group["run-worker"]
  })
}

resource "aws_iam_role_policy" "run_worker" {
  name = "${var.name}-run-worker-task"
  role = aws_iam_role.task["run-worker"].id
  policy = templatefile("${path.module}/../iam/run-worker-task.json", {
    sirius_channel_counts_arn = var.sirius_channel_counts_arn
    publication_bucket        = var.publication_bucket
    publication_prefix        = var.publication_prefix
  })
}

resource "aws_iam_role_policy" "run_worker_costs" {
  count  = var.read_aws_costs ? 1 : 0
  name   = "${var.name}-run-worker-costs"
  role   = aws_iam_role.task["run-worker"].id
  policy = file("${path.module}/../iam/run-worker-costs.json")
}
