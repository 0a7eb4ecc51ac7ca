// Job DSL: retraining on demand. The live model monitor (or a person) starts it with the project
// to retrain; it runs every stage of the pipeline with a fresh run.
pipelineJob('mlops-retrain') {
    description('Retrain a deployed project from scratch (started by the live monitor or by hand).')
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
                    }
                    stages {
                        stage('Retrain') {
                            steps {
                                sh 'mlops run "$PROJECT_DIR" --fresh'
                            }
                        }
                    }
                }
            '''.stripIndent())
        }
    }
}
