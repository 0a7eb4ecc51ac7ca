// Job DSL: retraining on demand. The live monitor (mlops monitor) or a person starts it with the project to
// retrain: the users' labels are added to the data, the script as it is and a tuned candidate are trained,
// and the better one goes through the gate, approval and deploy (mlops retrain).
pipelineJob('mlops-retrain') {
    description('Retrain a deployed project with its users\' labels (started by the live monitor or by hand).')
    parameters {
        stringParam('PROJECT_DIR', '', 'Path of the training project on the Jenkins host')
        stringParam('REASON', 'manual', 'Why the retraining was started (drift, accuracy drop, manual)')
    }
    definition {
        cps {
            sandbox(true)
            script('''
                pipeline {
                    agent any
                    options {
                        timestamps()
                        timeout(time: 3, unit: 'HOURS')
                        disableConcurrentBuilds()
                    }
                    environment {
                        NO_COLOR = '1'
                        MONGODB_URI = credentials('mlops-mongodb-uri')
                        SMTP_PASSWORD = credentials('mlops-smtp-password')
                        MLOPS_FEEDBACK_TOKEN = credentials('mlops-feedback-token')
                    }
                    stages {
                        stage('Retrain') {
                            steps {
                                sh 'mlops retrain "$PROJECT_DIR" --reason "$REASON"'
                            }
                        }
                    }
                }
            '''.stripIndent())
        }
    }
}
