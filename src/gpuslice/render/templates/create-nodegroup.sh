#!/usr/bin/env bash
# gpuslice: create the EKS managed node group of pool @@POOL@@ with the AWS CLI v2 (rendered; edit the spec instead).
#   1. the AMI: EKS managed node groups do not resolve "resolve:ssm:" in a launch template (the node-group service
#      role may not read SSM parameters: Client.SsmAccessDenied, aws/containers-roadmap#1951), so a custom AMI
#      that was not pinned at plan time is read from its public SSM parameter here
#   2. the launch template (launch-template.json) and the node group (managed-nodegroup.json)
#   3. cluster-autoscaler's node-template tags on the node group's Auto Scaling group (autoscaler-tags.json):
#      EKS does not copy node-group tags to it, and without them a scale from zero sees physical GPUs only
# Needs, in the environment: NODE_ROLE_ARN (the node IAM role) and SUBNET_IDS (space-separated subnet ids);
# AWS credentials allowed to call ssm:GetParameter, ec2:CreateLaunchTemplate, eks:CreateNodegroup,
# eks:DescribeNodegroup and autoscaling:CreateOrUpdateTags. AWS_REGION overrides the spec's region.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster=@@CLUSTER@@
nodegroup=@@NODEGROUP@@
region=${AWS_REGION:-@@REGION@@}
ssm_parameter=@@SSM_PARAMETER@@

log() { printf 'gpuslice: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ -n "${NODE_ROLE_ARN:-}" ] || die "set NODE_ROLE_ARN to the node IAM role ARN (the managed node group's nodeRole)"
[ -n "${SUBNET_IDS:-}" ] || die "set SUBNET_IDS to the node group's subnet ids, separated by spaces"
[ -n "$region" ] || die "set AWS_REGION (the spec has no cluster.region)"
command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not installed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ami=""
if [ -n "$ssm_parameter" ]; then
  ami=$(aws ssm get-parameter --region "$region" --name "$ssm_parameter" --query Parameter.Value --output text) \
    || die "could not read the AMI id from $ssm_parameter"
  [[ $ami =~ ^ami-[0-9a-f]+$ ]] || die "$ssm_parameter holds '$ami', not an AMI id"
  log "AMI $ami (from $ssm_parameter)"
fi
sed "s/\"@@AMI_PLACEHOLDER@@\"/\"$ami\"/" "$here/launch-template.json" >"$work/launch-template.json"
if grep -q '@@AMI_PLACEHOLDER@@' "$work/launch-template.json"; then
  die "launch-template.json still has no AMI id"
fi

subnets=""
for s in $SUBNET_IDS; do
  [[ $s =~ ^subnet-[0-9a-f]+$ ]] || die "SUBNET_IDS: '$s' is not a subnet id"
  subnets+="${subnets:+, }\"$s\""
done
[[ $NODE_ROLE_ARN =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/ ]] || die "NODE_ROLE_ARN '$NODE_ROLE_ARN' is not an IAM role ARN"
sed -e "s|\"@@ROLE_PLACEHOLDER@@\"|\"$NODE_ROLE_ARN\"|" -e "s|\"@@SUBNET_PLACEHOLDER@@\"|$subnets|" \
  "$here/managed-nodegroup.json" >"$work/managed-nodegroup.json"

log "creating launch template $nodegroup"
aws ec2 create-launch-template --region "$region" --cli-input-json "file://$work/launch-template.json" >/dev/null
log "creating managed node group $nodegroup in cluster $cluster"
aws eks create-nodegroup --region "$region" --cli-input-json "file://$work/managed-nodegroup.json" >/dev/null
aws eks wait nodegroup-active --region "$region" --cluster-name "$cluster" --nodegroup-name "$nodegroup"

asg=$(aws eks describe-nodegroup --region "$region" --cluster-name "$cluster" --nodegroup-name "$nodegroup" \
  --query 'nodegroup.resources.autoScalingGroups[0].name' --output text)
[ -n "$asg" ] && [ "$asg" != None ] || die "node group $nodegroup has no Auto Scaling group"
sed "s|\"@@ASG_PLACEHOLDER@@\"|\"$asg\"|" "$here/autoscaler-tags.json" >"$work/autoscaler-tags.json"
aws autoscaling create-or-update-tags --region "$region" --cli-input-json "file://$work/autoscaler-tags.json"
log "node group $nodegroup is active; cluster-autoscaler tags (@@TAG_COUNT@@) are on $asg"
