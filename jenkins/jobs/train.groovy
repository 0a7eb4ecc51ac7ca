// Job DSL: the training pipeline of the training repository, started by its GitHub push webhook
// and by SCM polling as a fallback. The pipeline itself is the repository's Jenkinsfile.
String repo = System.getenv('TRAINING_REPO_URL') ?: 'https://github.com/example/training-project.git'
String branch = System.getenv('TRAINING_BRANCH') ?: 'main'

pipelineJob('mlops-train') {
    description('Train, tune to the target, evaluate, push and deploy the model of ' + repo)
    properties {
        githubProjectUrl(repo.replaceAll(/\.git$/, ''))
    }
    parameters {
        stringParam('PROJECT_DIR', '.', 'Folder of the training project in the repository')
    }
    triggers {
        githubPush()
        scm('H/5 * * * *')
    }
    definition {
        cpsScm {
            scm {
                git {
                    remote {
                        url(repo)
                        credentials('training-repo')
                    }
                    branch('*/' + branch)
                }
            }
            scriptPath('Jenkinsfile')
            lightweight(true)
        }
    }
}
