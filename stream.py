import boto3, time, os, openai
r = boto3.client('bedrock-runtime'); t=time.time()
s = r.converse_stream(modelId='amazon.nova-lite-v1:0', messages=[{'role':'user','content':[{'text':'hi'}]}])
print('converse_stream events:', [list(ev.keys())[0] for ev in s['stream']])
s = r.invoke_model_with_response_stream(modelId='anthropic.claude-3-haiku-20240307-v1:0', body=b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}')
print('invoke stream chunks:', sum(1 for _ in s['body']))
c = openai.OpenAI(base_url=os.environ['BEDROCK_MANTLE_API_BASE'], api_key=os.environ['AWS_BEARER_TOKEN_BEDROCK'], max_retries=0)
try:
    st = c.chat.completions.create(model='openai.gpt-oss-120b', messages=[{'role':'user','content':'hi'}], stream=True)
    print('openai mantle stream chunks:', sum(1 for _ in st))
except Exception as e: print('openai stream exc', e)
