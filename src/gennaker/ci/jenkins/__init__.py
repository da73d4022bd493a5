"""Jenkins masters: configuration (`accounts`), the remote-access API client (`client`), Spinnaker's shapes of
builds and jobs (`builds`) and property files (`properties`)."""

from gennaker.ci.jenkins.accounts import JenkinsConfigError, JenkinsMaster, JenkinsMasters, jenkins_masters
from gennaker.ci.jenkins.builds import generic_build, job_config, parameter_definitions
from gennaker.ci.jenkins.client import JenkinsClient, JenkinsError, job_path
from gennaker.ci.jenkins.properties import PropertyFileError, parse_property_file

__all__ = [
    "JenkinsClient",
    "JenkinsConfigError",
    "JenkinsError",
    "JenkinsMaster",
    "JenkinsMasters",
    "PropertyFileError",
    "generic_build",
    "jenkins_masters",
    "job_config",
    "job_path",
    "parameter_definitions",
    "parse_property_file",
]
