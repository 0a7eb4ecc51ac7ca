// Job DSL: the monitor job. Every five minutes it restarts training and serving containers that
// died or turned unhealthy (from the last checkpoint / the last good model) and mails one alert
// per incident (`mlops watch`), then checks the live accuracy of each project in PROJECT_DIRS
// (`mlops monitor`): under its threshold it mails one alert and starts mlops-retrain. Each project's page
// (`mlops page`: versions, production over time, runs, live accuracy, drift) is published beside the build.
pipelineJob('mlops-monitor') {
    description('Restart failed serving containers (mlops watch --once); check live accuracy (mlops monitor --once).')
    parameters {
        stringParam('PROJECT_DIRS', '', 'Project folders on the Jenkins host whose live accuracy to check (space-separated)')
    }
    logRotator {
        numToKeep(200)
    }
    triggers {
        cron('H/5 * * * *')
    }
    definition {
        cps {
            sandbox(true)
            script('''
                pipeline {
                    agent any
                    options {
                        timestamps()
                        timeout(time: 10, unit: 'MINUTES')
                        disableConcurrentBuilds()
                    }
                    environment {
                        NO_COLOR = '1'
                        MONGODB_URI = credentials('mlops-mongodb-uri')
                        SMTP_PASSWORD = credentials('mlops-smtp-password')
                        JENKINS_API = credentials('mlops-jenkins-api')
                        // a rollback (mlops watch) or a retrain started without Jenkins (mlops monitor) starts a unit
                        MLOPS_FEEDBACK_TOKEN = credentials('mlops-feedback-token')
                    }
                    stages {
                        stage('Watch') {
                            steps {
                                sh 'mlops watch --once'
                            }
                        }
                        stage('Live accuracy') {
                            when { expression { params.PROJECT_DIRS?.trim() } }
                            steps {
                                script {
                                    int page = 0
                                    for (dir in params.PROJECT_DIRS.trim().split()) {
                                        page += 1
                                        withEnv(["PROJECT_DIR=${dir}", "PAGE_DIR=project-pages/${page}"]) {
                                            sh 'mlops monitor "$PROJECT_DIR" --once'
                                            sh 'mlops page "$PROJECT_DIR" --out "$PAGE_DIR"'
                                        }
                                        publishHTML(target: [reportDir: "project-pages/${page}", reportFiles: 'index.html',
                                                             reportName: "Project page: ${dir}", keepAll: false,
                                                             alwaysLinkToLastBuild: true, allowMissing: true])
                                    }
                                }
                            }
                        }
                    }
                }
            '''.stripIndent())
        }
    }
}
