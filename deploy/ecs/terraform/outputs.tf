output "security_group_id" {
  description = "The tasks' security group (allow it wherever perfdata must connect)."
  value       = aws_security_group.tasks.id
}

output "task_definition_arns" {
  description = "The task definitions, by process."
  value       = { for p, td in aws_ecs_task_definition.process : p => td.arn }
}

output "task_role_arns" {
  description = "The task roles, by process (the code server and perfdata serve have none)."
  value       = { for p, r in aws_iam_role.task : p => r.arn }
}

output "code_server_host" {
  description = "Where the webserver and the daemon find the code server."
  value       = local.code_server_host
}
