// Job DSL: the monitor job. Every five minutes it restarts training and serving containers that
// died or turned unhealthy (from the last checkpoint / the last good model) and mails one alert
// per incident. The same check runs as a daemon with `mlops watch`.
pipelineJob('mlops-monitor') {
    description('Restart failed training and serving containers (mlops watch --once).')
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
                    }
                    stages {
                        stage('Watch') {
                            steps {
                                sh 'mlops watch --once'
                            }
                        }
                    }
                }
            '''.stripIndent())
        }
    }
}
